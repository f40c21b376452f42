package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// VerifyGitHub reports whether header (the X-Hub-Signature-256 value,
// "sha256=<hex>") is the HMAC-SHA256 of body under any of the secrets.
// Several secrets allow rotation. The comparison takes constant time.
func VerifyGitHub(secrets [][]byte, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	return verifyHex(secrets, body, hexSig)
}

// VerifyGitea reports whether header (X-Gitea-Signature or
// X-Forgejo-Signature: the hex HMAC-SHA256 of the body, no prefix)
// matches under any of the secrets.
func VerifyGitea(secrets [][]byte, body []byte, header string) bool {
	return verifyHex(secrets, body, header)
}

// VerifyToken reports whether token (GitLab's X-Gitlab-Token, sent as is)
// equals any of the secrets, in constant time.
func VerifyToken(secrets [][]byte, token string) bool {
	if token == "" {
		return false
	}
	ok := 0
	for _, s := range secrets {
		// Compare digests, so the time taken says nothing about the length.
		a, b := sha256.Sum256(s), sha256.Sum256([]byte(token))
		ok |= subtle.ConstantTimeCompare(a[:], b[:])
	}
	return ok == 1
}

func verifyHex(secrets [][]byte, body []byte, hexSig string) bool {
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size || len(secrets) == 0 {
		return false
	}
	ok := false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, s)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true // keep going: the time taken does not say which secret matched
		}
	}
	return ok
}

// SignGitHub returns the X-Hub-Signature-256 value of body: for tests and
// for tools that send deliveries.
func SignGitHub(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
