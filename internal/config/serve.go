package config

import (
	"fmt"
	"net"
	"strings"
)

// Serve configures `muelle serve`, the daemon that receives webhooks and
// runs the scheduled jobs.
type Serve struct {
	// Listen is the address of the webhook endpoints. Default
	// 127.0.0.1:9000: put it behind the stack's nginx or a tunnel.
	Listen string `yaml:"listen"`
	// GitHub receives POST /hooks/github.
	GitHub *Forge `yaml:"github"`
	// GitLab receives POST /hooks/gitlab.
	GitLab *Forge `yaml:"gitlab"`
	// Gitea receives POST /hooks/gitea (Gitea and Forgejo).
	Gitea *Forge `yaml:"gitea"`
}

// Forge is one webhook source.
type Forge struct {
	// Repository is owner/name (group/project on GitLab).
	Repository string `yaml:"repository"`
	// Secrets are the shared webhook secrets, written as ${VAR} and kept
	// in the env file; any one may match, so a secret can be rotated.
	Secrets []string `yaml:"secrets"`
	// Trigger is push (default) or workflow_run (GitHub only: deploy when
	// Workflow completed successfully on a push to the branch).
	Trigger string `yaml:"trigger"`
	// Workflow is the workflow's name or file path, for workflow_run.
	Workflow string `yaml:"workflow"`
}

// Forges returns the configured receivers by name.
func (s Serve) Forges() map[string]*Forge {
	out := map[string]*Forge{}
	for name, f := range map[string]*Forge{"github": s.GitHub, "gitlab": s.GitLab, "gitea": s.Gitea} {
		if f != nil {
			out[name] = f
		}
	}
	return out
}

func (c *Config) serveDefaults() {
	if c.Serve.Listen == "" {
		c.Serve.Listen = "127.0.0.1:9000"
	}
	for _, f := range c.Serve.Forges() {
		if f.Trigger == "" {
			f.Trigger = "push"
		}
	}
}

func (c *Config) serveProblems() []string {
	var problems []string
	if _, _, err := net.SplitHostPort(c.Serve.Listen); err != nil {
		problems = append(problems, fmt.Sprintf("serve.listen %q: want host:port, e.g. 127.0.0.1:9000", c.Serve.Listen))
	}
	for name, f := range c.Serve.Forges() {
		key := "serve." + name
		if f.Repository == "" || !strings.Contains(f.Repository, "/") {
			problems = append(problems, key+".repository: set owner/name of the repository that deploys")
		}
		if len(f.Secrets) == 0 {
			problems = append(problems, key+".secrets: list at least one, as ${VAR} with the value in the env file")
		}
		for _, s := range f.Secrets {
			if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
				problems = append(problems, key+".secrets: write each as ${VAR} and put the value in the env file, not in muelle.yaml")
				break
			}
		}
		switch {
		case f.Trigger != "push" && f.Trigger != "workflow_run":
			problems = append(problems, fmt.Sprintf("%s.trigger %q: use push or workflow_run", key, f.Trigger))
		case f.Trigger == "workflow_run" && name != "github":
			problems = append(problems, key+".trigger: workflow_run is GitHub's; use push")
		case f.Trigger == "workflow_run" && f.Workflow == "":
			problems = append(problems, key+".workflow: name the workflow (its name or .github/workflows/ path) that must pass")
		}
	}
	return problems
}
