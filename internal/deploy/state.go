package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

// historyVersion is the format of releases.json this muelle writes.
const historyVersion = 1

// Release statuses.
const (
	StatusRunning    = "running"     // in progress (or interrupted: see Phase)
	StatusLive       = "live"        // serving now
	StatusSuperseded = "superseded"  // served before the live one
	StatusFailed     = "failed"      // did not go live; the previous release kept serving
	StatusRolledBack = "rolled-back" // went live, then was rolled back
	// StatusUndoFailed: it failed and undoing it failed too; the journal
	// is kept, and the next deploy or rollback tries the undo again.
	StatusUndoFailed = "undo-failed"
	// StatusOperator: it failed and muelle stopped, by configuration, in
	// maintenance (deploy.irreversible: stop). Deploys and rollbacks wait
	// until the operator resolves it ('muelle releases resolve').
	StatusOperator = "needs-operator"
)

// Phases of a deploy, in order. The journal records the phase before the
// step acts, so recovery knows what may have happened.
const (
	PhaseBuild     = "build"
	PhaseBackup    = "backup"
	PhaseChecks    = "checks"
	PhaseMigrate   = "migrate"
	PhaseStart     = "start"
	PhaseSwitch    = "switch"
	PhaseWatch     = "watch"
	PhaseRetire    = "retire"
	PhaseRollback  = "rollback"
	PhaseCompleted = "done"
)

// Release is one deploy or rollback, as recorded in the history.
type Release struct {
	Seq int `json:"seq"`
	// ID is the release id: the commit's first 12 hex digits.
	ID      string `json:"id"`
	Commit  string `json:"commit,omitempty"`
	Ref     string `json:"ref,omitempty"`
	Subject string `json:"subject,omitempty"`
	Image   string `json:"image"`
	// Operation is deploy or rollback.
	Operation string    `json:"operation"`
	Trigger   string    `json:"trigger,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Status    string    `json:"status"`
	Steps     []Step    `json:"steps,omitempty"`
	// Backup is the pre-deploy backup's id.
	Backup string `json:"backup,omitempty"`
	// Previous is the release that served before, and its image.
	Previous      string `json:"previous,omitempty"`
	PreviousImage string `json:"previous_image,omitempty"`
	// Applied lists the migrations (app.name) this release applied.
	Applied []string `json:"applied,omitempty"`
	// Migrations lists every applied migration once this release was
	// live: what a rollback to it returns the database to.
	Migrations []string `json:"migrations,omitempty"`
	Error      string   `json:"error,omitempty"`
	// SwitchBack is how long a failed release took from the failure to
	// the previous release serving alone again.
	SwitchBack time.Duration `json:"switch_back_ns,omitempty"`
	// Recovery says what undid this release: migrations reversed, a backup
	// restored and what that lost.
	Recovery string `json:"recovery,omitempty"`

	// The journal: what recovery needs after an interruption.
	Phase            string   `json:"phase,omitempty"`
	PID              int      `json:"pid,omitempty"`
	OldContainers    []string `json:"old_containers,omitempty"`
	NewContainers    []string `json:"new_containers,omitempty"`
	MigrationsBefore []string `json:"migrations_before,omitempty"`
	// BeforeKnown says MigrationsBefore was recorded (it may be empty).
	BeforeKnown bool `json:"before_known,omitempty"`
	// Restoring is the backup an undo was restoring: an interrupted
	// restore is run again, whatever the database looks like.
	Restoring string `json:"restoring,omitempty"`
	// RestoreSafety is the safety backup the first attempt of that restore
	// took: the state with the writes a restore loses.
	RestoreSafety string `json:"restore_safety,omitempty"`
	// DataLoss says which writes a restore lost, when it lost any.
	DataLoss string `json:"data_loss,omitempty"`

	failedAt time.Time // when the failure was detected, this run
}

// Step is one timed step of a release.
type Step struct {
	Name    string        `json:"name"`
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	Error   string        `json:"error,omitempty"`
}

// History is releases.json: every deploy and rollback of a project.
type History struct {
	Version  int       `json:"version"`
	Project  string    `json:"project"`
	Releases []Release `json:"releases"`
}

// Live returns the live release, or nil.
func (h *History) Live() *Release {
	for i := len(h.Releases) - 1; i >= 0; i-- {
		if h.Releases[i].Status == StatusLive {
			return &h.Releases[i]
		}
	}
	return nil
}

// Unfinished returns the release still marked running, or whose undo
// failed, or nil.
func (h *History) Unfinished() *Release {
	for i := len(h.Releases) - 1; i >= 0; i-- {
		if s := h.Releases[i].Status; s == StatusRunning || s == StatusUndoFailed {
			return &h.Releases[i]
		}
	}
	return nil
}

// Blocked returns the release waiting for an operator, or nil.
func (h *History) Blocked() *Release {
	for i := len(h.Releases) - 1; i >= 0; i-- {
		if h.Releases[i].Status == StatusOperator {
			return &h.Releases[i]
		}
	}
	return nil
}

// Find returns the newest release whose id or commit starts with id.
func (h *History) Find(id string) *Release {
	for i := len(h.Releases) - 1; i >= 0; i-- {
		r := &h.Releases[i]
		if len(id) >= 4 && (len(r.Commit) >= len(id) && r.Commit[:len(id)] == id || len(r.ID) >= len(id) && r.ID[:len(id)] == id) {
			return r
		}
	}
	return nil
}

// bySeq returns the release with sequence number seq.
func (h *History) bySeq(seq int) *Release {
	for i := range h.Releases {
		if h.Releases[i].Seq == seq {
			return &h.Releases[i]
		}
	}
	return nil
}

// State is a project's deploy state directory.
type State struct {
	Dir     string
	Project string
}

func (s *State) path() string { return filepath.Join(s.Dir, "releases.json") }

// Load reads the history; a missing file is an empty history.
func (s *State) Load() (*History, error) {
	h := &History{Version: historyVersion, Project: s.Project}
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	if err := json.Unmarshal(data, h); err != nil {
		return nil, fmt.Errorf("%s: %w (the file is damaged; move it aside to start a new history)", s.path(), err)
	}
	if h.Version > historyVersion {
		return nil, fmt.Errorf("%s was written by a newer muelle (format %d; this one reads %d): upgrade muelle", s.path(), h.Version, historyVersion)
	}
	return h, nil
}

// save writes the history atomically. Callers hold the deploy lock.
func (s *State) save(h *History) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(), append(data, '\n'), 0o600)
}
