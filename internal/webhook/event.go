package webhook

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Rules say which deliveries deploy.
type Rules struct {
	// Repository is owner/name (GitHub, Gitea) or group/project (GitLab),
	// compared without regard to case.
	Repository string
	// Branch is the branch that deploys.
	Branch string
	// Trigger is "push" (deploy on push) or "workflow_run" (deploy when
	// the named workflow completed successfully on a push to the branch).
	Trigger string
	// Workflow names the workflow (its name or its file path) for the
	// workflow_run trigger.
	Workflow string
}

// Decision is what a delivery leads to.
type Decision struct {
	Deploy bool
	// Commit is the commit to deploy.
	Commit string
	// Ref is the ref the delivery names.
	Ref        string
	Repository string
	Sender     string
	// Forced is a force push: the commit may be older than the one
	// deployed, on purpose.
	Forced bool
	// Reason says why, for the activity log.
	Reason string
}

const zeroCommit = "0000000000000000000000000000000000000000"

// payloadOf returns the JSON document of a delivery: the body itself, or
// the payload field of a form-encoded body.
func payloadOf(contentType string, body []byte) ([]byte, error) {
	ct, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "application/json", "":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("form body: %w", err)
		}
		p := form.Get("payload")
		if p == "" {
			return nil, fmt.Errorf("form body has no payload field")
		}
		return []byte(p), nil
	}
	return nil, fmt.Errorf("content type %q: use application/json or application/x-www-form-urlencoded", ct)
}

type githubRepo struct {
	FullName string `json:"full_name"`
}

type githubPush struct {
	Ref        string     `json:"ref"`
	After      string     `json:"after"`
	Deleted    bool       `json:"deleted"`
	Forced     bool       `json:"forced"`
	Repository githubRepo `json:"repository"`
	Sender     struct {
		Login string `json:"login"`
	} `json:"sender"`
	Pusher struct {
		Name string `json:"name"`
	} `json:"pusher"`
}

type githubWorkflowRun struct {
	Action      string `json:"action"`
	WorkflowRun struct {
		Name           string     `json:"name"`
		Path           string     `json:"path"`
		HeadBranch     string     `json:"head_branch"`
		HeadSHA        string     `json:"head_sha"`
		Event          string     `json:"event"`
		Status         string     `json:"status"`
		Conclusion     string     `json:"conclusion"`
		HeadRepository githubRepo `json:"head_repository"`
	} `json:"workflow_run"`
	Repository githubRepo `json:"repository"`
	Sender     struct {
		Login string `json:"login"`
	} `json:"sender"`
}

// DecideGitHub reads a verified GitHub delivery of event and decides.
// A malformed payload is an error; anything well-formed but not for us is
// a Decision with Deploy false and the reason.
func DecideGitHub(rules Rules, event string, payload []byte) (Decision, error) {
	switch event {
	case "ping":
		var p struct {
			Repository githubRepo `json:"repository"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			return Decision{}, fmt.Errorf("ping payload: %w", err)
		}
		return Decision{Repository: p.Repository.FullName, Reason: "ping"}, nil
	case "push":
		var p githubPush
		if err := json.Unmarshal(payload, &p); err != nil {
			return Decision{}, fmt.Errorf("push payload: %w", err)
		}
		d := Decision{Commit: p.After, Ref: p.Ref, Repository: p.Repository.FullName, Sender: cmpOr(p.Sender.Login, p.Pusher.Name), Forced: p.Forced}
		if rules.Trigger == "workflow_run" {
			d.Reason = "push ignored: deploys wait for the workflow " + rules.Workflow
			return d, nil
		}
		return decidePush(rules, d, p.Deleted), nil
	case "workflow_run":
		var p githubWorkflowRun
		if err := json.Unmarshal(payload, &p); err != nil {
			return Decision{}, fmt.Errorf("workflow_run payload: %w", err)
		}
		run := p.WorkflowRun
		d := Decision{Commit: run.HeadSHA, Ref: "refs/heads/" + run.HeadBranch, Repository: p.Repository.FullName, Sender: p.Sender.Login}
		switch {
		case rules.Trigger != "workflow_run":
			d.Reason = "workflow_run ignored: deploys follow pushes"
		case !strings.EqualFold(d.Repository, rules.Repository):
			d.Reason = fmt.Sprintf("repository %s is not %s", d.Repository, rules.Repository)
		case run.Name != rules.Workflow && run.Path != rules.Workflow:
			d.Reason = fmt.Sprintf("workflow %q is not %q", cmpOr(run.Name, run.Path), rules.Workflow)
		case p.Action != "completed":
			d.Reason = "workflow run " + p.Action + ", not completed"
		case run.Conclusion != "success":
			d.Reason = "workflow run concluded " + run.Conclusion
		case run.Event != "push":
			// A pull request from a fork can have head_branch "main" too.
			d.Reason = "workflow run triggered by " + run.Event + ", not a push"
		case run.HeadRepository.FullName != "" && !strings.EqualFold(run.HeadRepository.FullName, rules.Repository):
			d.Reason = "workflow run of a commit from " + run.HeadRepository.FullName
		case run.HeadBranch != rules.Branch:
			d.Reason = fmt.Sprintf("branch %s is not %s", run.HeadBranch, rules.Branch)
		case !isCommit(run.HeadSHA):
			d.Reason = "no commit id in the workflow run"
		default:
			d.Deploy, d.Reason = true, "workflow "+rules.Workflow+" passed on "+rules.Branch
		}
		return d, nil
	}
	return Decision{Reason: "event " + event + " ignored"}, nil
}

// decidePush applies the rules to a push.
func decidePush(rules Rules, d Decision, deleted bool) Decision {
	switch {
	case !strings.EqualFold(d.Repository, rules.Repository):
		d.Reason = fmt.Sprintf("repository %s is not %s", d.Repository, rules.Repository)
	case strings.HasPrefix(d.Ref, "refs/tags/"):
		d.Reason = "tag push ignored"
	case deleted || d.Commit == zeroCommit:
		d.Reason = "branch deletion ignored"
	case d.Ref != "refs/heads/"+rules.Branch:
		d.Reason = fmt.Sprintf("ref %s is not the branch %s", d.Ref, rules.Branch)
	case !isCommit(d.Commit):
		d.Reason = "no commit id in the push"
	default:
		d.Deploy, d.Reason = true, "push to "+rules.Branch
	}
	return d
}

func isCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// DecideGitLab reads a verified GitLab delivery.
func DecideGitLab(rules Rules, event string, payload []byte) (Decision, error) {
	if event != "Push Hook" {
		return Decision{Reason: "event " + event + " ignored"}, nil
	}
	var p struct {
		Ref     string `json:"ref"`
		After   string `json:"after"`
		Project struct {
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"project"`
		UserUsername string `json:"user_username"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return Decision{}, fmt.Errorf("push payload: %w", err)
	}
	d := Decision{Commit: p.After, Ref: p.Ref, Repository: p.Project.PathWithNamespace, Sender: p.UserUsername}
	return decidePush(rules, d, false), nil
}

// DecideGitea reads a verified Gitea or Forgejo delivery.
func DecideGitea(rules Rules, event string, payload []byte) (Decision, error) {
	if event != "push" {
		return Decision{Reason: "event " + event + " ignored"}, nil
	}
	var p struct {
		githubPush
		Pusher struct {
			Login string `json:"login"`
		} `json:"pusher"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return Decision{}, fmt.Errorf("push payload: %w", err)
	}
	d := Decision{Commit: p.After, Ref: p.Ref, Repository: p.Repository.FullName, Sender: cmpOr(p.Sender.Login, p.Pusher.Login)}
	return decidePush(rules, d, false), nil
}
