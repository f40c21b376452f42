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
	// TrustedProxies are addresses or CIDRs of proxies in front of the
	// daemon, whose X-Real-IP / X-Forwarded-For name the client (for the
	// per-address limit on failed signature checks). Default: loopback.
	// For the stack's nginx container, add the Docker bridge's range
	// (e.g. 172.16.0.0/12).
	TrustedProxies []string `yaml:"trusted_proxies"`
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

// Proxies returns TrustedProxies as networks (a plain address is a
// network of one). Validate has reported any that does not parse.
func (s Serve) Proxies() []*net.IPNet {
	var out []*net.IPNet
	for _, p := range s.TrustedProxies {
		if n, err := parseNet(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func parseNet(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("not an address")
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
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
	if c.Serve.TrustedProxies == nil {
		c.Serve.TrustedProxies = []string{"127.0.0.0/8", "::1"}
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
	for _, p := range c.Serve.TrustedProxies {
		if _, err := parseNet(p); err != nil {
			problems = append(problems, fmt.Sprintf("serve.trusted_proxies %q: want an address or a CIDR, e.g. 127.0.0.1 or 172.16.0.0/12", p))
		}
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
