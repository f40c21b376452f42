package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Deliveries in the shape the forges document (testdata/README.md says
// which page each follows) lead to the expected decisions.
func TestDocumentedPayloads(t *testing.T) {
	push := Rules{Repository: "octo-org/pinboard", Branch: "main", Trigger: "push"}
	ci := Rules{Repository: "octo-org/pinboard", Branch: "main", Trigger: "workflow_run", Workflow: "CI"}
	ciByPath := ci
	ciByPath.Workflow = ".github/workflows/ci.yml"
	cases := []struct {
		file, event string
		decide      func(Rules, string, []byte) (Decision, error)
		rules       Rules
		deploy      bool
		reason      string
	}{
		{"github/ping.json", "ping", DecideGitHub, push, false, "ping"},
		{"github/push.json", "push", DecideGitHub, push, true, "push to main"},
		{"github/push.json", "push", DecideGitHub, ci, false, "deploys wait for the workflow"},
		{"github/push_tag.json", "push", DecideGitHub, push, false, "tag push ignored"},
		{"github/push_delete.json", "push", DecideGitHub, push, false, "ignored"},
		{"github/workflow_run_completed.json", "workflow_run", DecideGitHub, ci, true, "workflow CI passed"},
		{"github/workflow_run_completed.json", "workflow_run", DecideGitHub, ciByPath, true, "passed"},
		{"github/workflow_run_completed.json", "workflow_run", DecideGitHub, push, false, "deploys follow pushes"},
		{"gitlab/push.json", "Push Hook", DecideGitLab, push, true, "push to main"},
		{"gitea/push.json", "push", DecideGitea, push, true, "push to main"},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.decide(c.rules, c.event, data)
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if d.Deploy != c.deploy || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s (%s trigger): deploy=%v reason %q; want deploy=%v, %q", c.file, c.rules.Trigger, d.Deploy, d.Reason, c.deploy, c.reason)
		}
		if d.Deploy && !isCommit(d.Commit) {
			t.Errorf("%s: deploys %q, not a commit id", c.file, d.Commit)
		}
	}
}
