package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileName is the configuration file in the project directory.
const FileName = "muelle.yaml"

// Config is muelle.yaml. Every field is optional.
type Config struct {
	// Project is the compose project name. Default: the project
	// directory's name.
	Project string `yaml:"project"`
	// ComposeFile is the production compose file. Default "compose.prod.yaml".
	ComposeFile string `yaml:"compose_file"`
	// EnvFile is the production environment file. Default ".env.production".
	EnvFile string `yaml:"env_file"`
	// Backup configures backups.
	Backup Backup `yaml:"backup"`
	// Schedule says when periodic jobs run (`muelle schedule run`, `muelle
	// serve`, or the crontab `muelle cron install` writes).
	Schedule Schedule `yaml:"schedule"`
	// Deploy configures deploys and rollbacks.
	Deploy Deploy `yaml:"deploy"`
	// Notify says who hears about deploys and rollbacks.
	Notify Notify `yaml:"notify"`
	// Serve configures the webhook daemon.
	Serve Serve `yaml:"serve"`
	// StateDir holds the release history, the deploy lock and journal.
	// Default: /var/lib/muelle/<project> as root, else
	// ~/.local/state/muelle/<project>/state.
	StateDir string `yaml:"state_dir"`

	// Dir is the project directory (not read from the file).
	Dir string `yaml:"-"`
}

// Backup configures where backups go and how many are kept.
type Backup struct {
	// Dir holds the catalogue, database dumps and the media repository.
	// Default: /var/backups/muelle/<project> as root, else
	// ~/.local/state/muelle/<project>/backups.
	Dir string `yaml:"dir"`
	// Keep is the retention policy applied by `muelle backup prune`, here
	// and offsite.
	Keep Keep `yaml:"keep"`
	// Offsite, when its repository is set, receives an encrypted copy of
	// every backup.
	Offsite Offsite `yaml:"offsite"`
}

// Schedule holds cron expressions (five fields, or @daily, @hourly, ...,
// in UTC) per job; "off" disables a job.
type Schedule struct {
	// Backup takes a backup of the database and media. Default "0 3 * * *".
	Backup string `yaml:"backup"`
	// Verify proves the newest backup restores. Default "30 4 * * *".
	Verify string `yaml:"verify"`
	// Prune applies the retention policy. Default "0 5 * * *".
	Prune string `yaml:"prune"`
}

// Jobs returns the enabled jobs' names and schedules, in a stable order.
func (s Schedule) Jobs() [][2]string {
	var out [][2]string
	for _, j := range [][2]string{{"backup", s.Backup}, {"verify", s.Verify}, {"prune", s.Prune}} {
		if j[1] != "off" {
			out = append(out, j)
		}
	}
	return out
}

// Offsite is a remote copy of the backups.
type Offsite struct {
	// Repository is a restic repository URL: s3:https://host/bucket/path
	// for S3-compatible storage, or sftp:, b2:, azure:, gs:, rest:.
	// Credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, B2_*, ...)
	// come from muelle's environment or the production env file, never
	// from this file. Default: none.
	Repository string `yaml:"repository"`
}

// Keep is a grandfather-father-son retention policy: a backup is kept if
// any rule keeps it.
type Keep struct {
	// Last keeps the newest N backups. Default 7.
	Last int `yaml:"last"`
	// Daily keeps the newest backup of each of the last N days. Default 7.
	Daily int `yaml:"daily"`
	// Weekly keeps the newest backup of each of the last N ISO weeks. Default 4.
	Weekly int `yaml:"weekly"`
	// Monthly keeps the newest backup of each of the last N months. Default 6.
	Monthly int `yaml:"monthly"`
}

// Load reads dir/muelle.yaml if it exists, fills in defaults and validates.
func Load(dir string) (*Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	data, err := os.ReadFile(filepath.Join(abs, FileName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", FileName, err)
	default:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", filepath.Join(abs, FileName), err)
		}
	}
	c.Dir = abs
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Defaults fills in every unset field.
func (c *Config) Defaults() {
	if c.Project == "" {
		c.Project = ProjectName(filepath.Base(c.Dir))
	}
	if c.ComposeFile == "" {
		c.ComposeFile = "compose.prod.yaml"
	}
	if c.EnvFile == "" {
		c.EnvFile = ".env.production"
	}
	if c.Backup.Dir == "" {
		if os.Geteuid() == 0 {
			c.Backup.Dir = filepath.Join("/var/backups/muelle", c.Project)
		} else if home, err := os.UserHomeDir(); err == nil {
			c.Backup.Dir = filepath.Join(home, ".local/state/muelle", c.Project, "backups")
		}
	} else if !filepath.IsAbs(c.Backup.Dir) {
		c.Backup.Dir = filepath.Join(c.Dir, c.Backup.Dir)
	}
	for _, d := range []struct {
		field *string
		def   string
	}{{&c.Schedule.Backup, "0 3 * * *"}, {&c.Schedule.Verify, "30 4 * * *"}, {&c.Schedule.Prune, "0 5 * * *"}} {
		if *d.field == "" {
			*d.field = d.def
		}
	}
	k := &c.Backup.Keep
	if *k == (Keep{}) {
		*k = Keep{Last: 7, Daily: 7, Weekly: 4, Monthly: 6}
	}
	c.deployDefaults()
	c.serveDefaults()
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var problems []string
	k := c.Backup.Keep
	if k.Last < 0 || k.Daily < 0 || k.Weekly < 0 || k.Monthly < 0 {
		problems = append(problems, "backup.keep: counts cannot be negative")
	}
	if k.Last+k.Daily+k.Weekly+k.Monthly == 0 {
		problems = append(problems, "backup.keep: keeps nothing; set at least one of last, daily, weekly, monthly")
	}
	if c.Backup.Dir == "" {
		problems = append(problems, "backup.dir: no default (no home directory); set it")
	}
	if r := c.Backup.Offsite.Repository; r != "" && strings.Contains(r, "@") {
		problems = append(problems, "backup.offsite.repository: holds credentials (user:password@); put them in the env file (AWS_ACCESS_KEY_ID, ...) instead")
	}
	if c.Project != ProjectName(c.Project) {
		problems = append(problems, fmt.Sprintf("project %q: use lower-case letters, digits, - and _ only", c.Project))
	}
	problems = append(problems, c.deployProblems()...)
	problems = append(problems, c.serveProblems()...)
	if len(problems) > 0 {
		return fmt.Errorf("%s:\n  - %s", filepath.Join(c.Dir, FileName), strings.Join(problems, "\n  - "))
	}
	return nil
}

// ProjectName turns a directory name into a compose project name.
func ProjectName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	n := strings.Trim(b.String(), "-_")
	if n == "" {
		return "app"
	}
	return n
}
