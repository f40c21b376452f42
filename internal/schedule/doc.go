// Package schedule runs muelle's periodic jobs (backup, verify, prune) on
// cron schedules, in the foreground or inside `muelle serve`, and makes sure
// two runs of the same job never overlap: each run holds a lock file, so
// the guarantee also holds between the daemon and crontab-started runs. It
// knows nothing of what the jobs do.
package schedule
