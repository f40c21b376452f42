package envfile

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Fill turns the example file into a real one: each placeholder becomes a
// fresh random secret, and the variables in set get their given values
// (commented-out lines for them are enabled). Other lines are kept as they
// are, comments included.
func Fill(example []byte, set map[string]string) ([]byte, error) {
	var out bytes.Buffer
	done := map[string]bool{}
	for _, line := range strings.SplitAfter(string(example), "\n") {
		body := strings.TrimRight(line, "\n")
		name, value, ok := strings.Cut(strings.TrimPrefix(body, "#"), "=")
		_, known := Lookup(name)
		if !ok || !known || strings.ContainsAny(name, " \t") {
			out.WriteString(line)
			continue
		}
		if v, want := set[name]; want && !done[name] {
			fmt.Fprintf(&out, "%s=%s\n", name, v)
			done[name] = true
			continue
		}
		if !strings.HasPrefix(body, "#") && strings.Contains(value, Placeholder) {
			secret, err := randomSecret(name)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&out, "%s=%s\n", name, secret)
			continue
		}
		out.WriteString(line)
	}
	rest := make([]string, 0, len(set))
	for name := range set {
		if !done[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		fmt.Fprintf(&out, "%s=%s\n", name, set[name])
	}
	return out.Bytes(), nil
}

// randomSecret returns a URL-safe random string: 64 characters for
// Django's secret key, 32 for passwords.
func randomSecret(name string) (string, error) {
	n := 24
	if name == "DJANGO_SECRET_KEY" {
		n = 48
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
