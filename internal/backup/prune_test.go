package backup

import (
	"testing"
	"time"

	"github.com/muelle-dev/muelle/internal/config"
)

// A year of daily backups (at 03:00 UTC), pruned with last 7, daily 7,
// weekly 4, monthly 6, keeps exactly the expected set.
func TestRetainAYearOfDailyBackups(t *testing.T) {
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	var entries []Entry
	for d := 0; d < 365; d++ {
		created := start.AddDate(0, 0, d)
		entries = append(entries, Entry{ID: created.Format("2006-01-02"), Created: created})
	}
	kept, removed := Retain(entries, config.Keep{Last: 7, Daily: 7, Weekly: 4, Monthly: 6})

	// The newest is 2026-12-31 (a Thursday). Last 7 and daily 7 are the same
	// days, Dec 25-31. Weekly 4 adds the newest of ISO weeks 2026-W53
	// (Dec 28-31: Dec 31, already kept), W52 (Dec 27, kept), W51 (Dec 20)
	// and W50 (Dec 13). Monthly 6 adds the last day of Dec (kept) and of
	// Nov, Oct, Sep, Aug and Jul.
	want := []string{
		"2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30",
		"2026-12-13", "2026-12-20",
		"2026-12-25", "2026-12-26", "2026-12-27", "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31",
	}
	var got []string
	for _, e := range kept {
		got = append(got, e.ID)
	}
	if len(got) != len(want) {
		t.Fatalf("kept %d backups %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("kept[%d]: got %s, want %s", i, got[i], want[i])
		}
	}
	if len(removed) != 365-len(want) {
		t.Errorf("removed %d, want %d", len(removed), 365-len(want))
	}
}

func TestRetainKeepsEverythingWhenFew(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	entries := []Entry{{ID: "a", Created: now}, {ID: "b", Created: now.Add(time.Hour)}}
	kept, removed := Retain(entries, config.Keep{Last: 7})
	if len(kept) != 2 || len(removed) != 0 {
		t.Errorf("got kept %d removed %d, want 2 and 0", len(kept), len(removed))
	}
	// Several backups on one day: daily keeps only the newest of that day.
	kept, removed = Retain(entries, config.Keep{Daily: 1})
	if len(kept) != 1 || kept[0].ID != "b" || len(removed) != 1 {
		t.Errorf("daily 1: got kept %v removed %v, want only b kept", kept, removed)
	}
}
