package webhook

import (
	"strings"
	"testing"
)

// The example in GitHub's "Validating webhook deliveries" documentation.
const (
	ghSecret  = "It's a Secret to Everybody"
	ghPayload = "Hello, World!"
	ghSig     = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestGitHubDocumentedExample(t *testing.T) {
	if !VerifyGitHub([][]byte{[]byte(ghSecret)}, []byte(ghPayload), ghSig) {
		t.Fatal("GitHub's documented example does not verify")
	}
	if got := SignGitHub([]byte(ghSecret), []byte(ghPayload)); got != ghSig {
		t.Fatalf("SignGitHub = %s, want %s", got, ghSig)
	}
	// Rotation: the old secret or the new one.
	if !VerifyGitHub([][]byte{[]byte("new secret"), []byte(ghSecret)}, []byte(ghPayload), ghSig) {
		t.Fatal("a second configured secret does not verify")
	}
}

func TestGitHubWrongSignatures(t *testing.T) {
	secrets := [][]byte{[]byte(ghSecret)}
	hexPart := strings.TrimPrefix(ghSig, "sha256=")
	flipped := []byte(hexPart)
	flipped[10] ^= 1
	for name, c := range map[string]struct{ body, header string }{
		"empty header":             {ghPayload, ""},
		"no prefix":                {ghPayload, hexPart},
		"sha1 prefix":              {ghPayload, "sha1=" + hexPart},
		"upper-case prefix":        {ghPayload, "SHA256=" + hexPart},
		"one character changed":    {ghPayload, "sha256=" + string(flipped)},
		"truncated":                {ghPayload, ghSig[:len(ghSig)-2]},
		"extended":                 {ghPayload, ghSig + "00"},
		"not hex":                  {ghPayload, "sha256=" + strings.Repeat("zz", 32)},
		"body changed":             {ghPayload + " ", ghSig},
		"body empty":               {"", ghSig},
		"whitespace around header": {ghPayload, " " + ghSig},
	} {
		if VerifyGitHub(secrets, []byte(c.body), c.header) {
			t.Errorf("%s: verified", name)
		}
	}
	if VerifyGitHub([][]byte{[]byte("another secret")}, []byte(ghPayload), ghSig) {
		t.Error("the wrong secret verified")
	}
	if VerifyGitHub(nil, []byte(ghPayload), ghSig) || VerifyGitHub([][]byte{{}}, []byte(ghPayload), ghSig) {
		t.Error("no secret (or an empty one) verified")
	}
}

func TestGiteaAndToken(t *testing.T) {
	secrets := [][]byte{[]byte(ghSecret)}
	if !VerifyGitea(secrets, []byte(ghPayload), strings.TrimPrefix(ghSig, "sha256=")) {
		t.Error("Gitea's prefix-less signature does not verify")
	}
	if VerifyGitea(secrets, []byte(ghPayload), ghSig) {
		t.Error("Gitea accepted a prefixed signature")
	}
	if !VerifyToken(secrets, ghSecret) || VerifyToken(secrets, ghSecret+"x") || VerifyToken(secrets, "") {
		t.Error("GitLab token comparison is wrong")
	}
}

func FuzzVerifyGitHub(f *testing.F) {
	f.Add([]byte(ghPayload), ghSig)
	f.Add([]byte(""), "sha256=")
	f.Add([]byte("{}"), "sha1=0000")
	secrets := [][]byte{[]byte(ghSecret)}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		ok := VerifyGitHub(secrets, body, header)
		// Only the exact signature of this body verifies.
		want := strings.HasPrefix(header, "sha256=") && strings.ToLower(header[7:]) == SignGitHub([]byte(ghSecret), body)[7:]
		if ok != want {
			t.Fatalf("VerifyGitHub(%q, %q) = %v, want %v", body, header, ok, want)
		}
	})
}
