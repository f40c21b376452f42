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

// ActivityLog appends entries as JSON lines. When the file passes
// MaxActivity bytes it becomes path.1 (replacing the one before) and a new
// file starts, so the log keeps between one and two files' worth however
// many deliveries (or attacks) arrive.
type ActivityLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	max  int64
}

// MaxActivity is the size at which the activity log is rotated.
const MaxActivity = 10 << 20

// OpenActivityLog opens (creating) the log at path for appending.
func OpenActivityLog(path string) (*ActivityLog, error) {
	l := &ActivityLog{path: path, max: MaxActivity}
	return l, l.open()
}

func (l *ActivityLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends e as one line (one write call, so lines never interleave).
func (l *ActivityLog) Write(e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(data)) > l.max {
		l.f.Close()
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return errors.Join(err, l.open())
		}
		if err := l.open(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(data)
	l.size += int64(n)
	return err
}

// Close closes the file.
func (l *ActivityLog) Close() error { return l.f.Close() }

// ReadActivity returns the deliveries in the log at path, oldest first,
// each with the result of the deploy it started merged in.
func ReadActivity(path string) ([]Entry, error) {
	var out []Entry
	// A deploy's result can be written before the line of the delivery
	// that started it (a deploy that fails at once): merge at the end.
	results := map[string]Entry{}
	for _, p := range []string{path + ".1", path} { // the rotated file first
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			var e Entry
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue // a line cut short by a crash
			}
			if e.Result != "" {
				results[e.Delivery] = e
				continue
			}
			out = append(out, e)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	for i, e := range out {
		if r, ok := results[e.Delivery]; ok && e.Decision == "deploy" && e.Delivery != "" {
			out[i].Result, out[i].Release, out[i].Error = r.Result, r.Release, r.Error
		}
	}
	return out, nil
}
