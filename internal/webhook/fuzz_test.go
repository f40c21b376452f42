package webhook

import (
	"strings"
	"testing"
)

// Payload parsing never panics, and a decision to deploy always names a
// full commit id on the configured branch of the configured repository.
func FuzzDecideGitHub(f *testing.F) {
	f.Add("push", []byte(pushBody("refs/heads/main", strings.Repeat("a", 40))))
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000","deleted":true}`))
	f.Add("ping", []byte(`{"zen":"x","hook_id":1}`))
	f.Add("workflow_run", []byte(`{"action":"completed","workflow_run":{"name":"CI","head_branch":"main","head_sha":"`+strings.Repeat("b", 40)+`","event":"push","conclusion":"success"},"repository":{"full_name":"octo-org/pinboard"}}`))
	f.Add("push", []byte(`{"ref":`))
	f.Add("push", []byte(`[]`))
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		for _, trigger := range []string{"push", "workflow_run"} {
			r := Rules{Repository: "octo-org/pinboard", Branch: "main", Trigger: trigger, Workflow: "CI"}
			d, err := DecideGitHub(r, event, payload)
			if err != nil || !d.Deploy {
				continue
			}
			if !isCommit(d.Commit) || d.Ref != "refs/heads/main" || !strings.EqualFold(d.Repository, r.Repository) {
				t.Fatalf("deploys %+v from %s %q", d, event, payload)
			}
		}
	})
}

func FuzzPayloadOf(f *testing.F) {
	f.Add("application/json", []byte(`{}`))
	f.Add("application/x-www-form-urlencoded", []byte("payload=%7B%7D"))
	f.Add("application/x-www-form-urlencoded; charset=utf-8", []byte("payload=%zz"))
	f.Add("text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := payloadOf(contentType, body)
		if err == nil && p == nil && len(body) > 0 {
			t.Fatalf("no payload and no error for %q %q", contentType, body)
		}
	})
}
