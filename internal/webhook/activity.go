package webhook

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Entry is one line of the activity log: a delivery and what it led to,
// or (with Result set) the outcome of the deploy a delivery started.
type Entry struct {
	Time       time.Time `json:"time"`
	Delivery   string    `json:"delivery,omitempty"`
	Forge      string    `json:"forge,omitempty"`
	Event      string    `json:"event,omitempty"`
	Repository string    `json:"repository,omitempty"`
	Ref        string    `json:"ref,omitempty"`
	Commit     string    `json:"commit,omitempty"`
	Sender     string    `json:"sender,omitempty"`
	Source     string    `json:"source,omitempty"`
	Status     int       `json:"status,omitempty"`
	// Decision is deploy, ignored, duplicate, rejected or invalid.
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Queue is started or queued, for deploys.
	Queue string `json:"queue,omitempty"`
	// Result is the deploy's outcome: live, failed, superseded, dropped.
	Result  string `json:"result,omitempty"`
	Release string `json:"release,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ActivityLog appends entries as JSON lines.
type ActivityLog struct {
	mu sync.Mutex
	f  *os.File
}

// OpenActivityLog opens (creating) the log at path for appending.
func OpenActivityLog(path string) (*ActivityLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &ActivityLog{f: f}, nil
}

// Write appends e as one line (one write call, so lines never interleave).
func (l *ActivityLog) Write(e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.f.Write(append(data, '\n'))
	return err
}

// Close closes the file.
func (l *ActivityLog) Close() error { return l.f.Close() }

// ReadActivity returns the deliveries in the log at path, oldest first,
// each with the result of the deploy it started merged in.
func ReadActivity(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	index := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line cut short by a crash
		}
		if e.Result != "" {
			if i, ok := index[e.Delivery]; ok {
				out[i].Result, out[i].Release, out[i].Error = e.Result, e.Release, e.Error
			}
			continue
		}
		if e.Decision == "deploy" && e.Delivery != "" {
			index[e.Delivery] = len(out)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
