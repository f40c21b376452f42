package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/muelle-dev/muelle/internal/atomicfile"
	"github.com/spf13/cobra"
)

// sdQuote quotes a word for a systemd unit: double quotes, with
// backslashes, quotes and specifiers (%) escaped.
func sdQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s) + `"`
}

// sdPath escapes a path for a setting systemd does not unquote
// (WorkingDirectory=): specifiers only.
func sdPath(s string) string { return strings.ReplaceAll(s, "%", "%%") }

var unitTemplate = template.Must(template.New("unit").Funcs(template.FuncMap{"q": sdQuote, "pct": sdPath}).Parse(`# muelle's daemon for {{.Project}}, written by 'muelle service install'.
[Unit]
Description=muelle serve: webhooks and scheduled jobs of {{.Project}}
Documentation=https://github.com/muelle-dev/muelle
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={{q .Binary}} serve {{q .Dir}}
WorkingDirectory={{pct .Dir}}
Environment={{q (print "HOME=" .Home)}}
# git refuses a checkout another user owns unless it is a safe.directory.
Environment=GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory {{q (print "GIT_CONFIG_VALUE_0=" .Dir)}}
Restart=on-failure
RestartSec=5
# SIGTERM stops accepting deliveries and lets a running deploy finish.
KillSignal=SIGTERM
TimeoutStopSec=20min

# Hardening that still lets muelle reach the Docker socket, the project
# (git, nginx files), its state and its backups.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ReadWritePaths={{q .Dir}} {{q .StateDir}} {{q .BackupDir}} -/run/docker.sock
ProtectHome=read-only
PrivateDevices=yes
ProtectProc=invisible
SystemCallFilter=@system-service
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0077

[Install]
WantedBy=multi-user.target
`))

type serviceOptions struct {
	stackOptions
	print bool
	file  string
}

func newServiceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Install muelle serve as a systemd service"}
	o := serviceOptions{}
	install := &cobra.Command{
		Use:   "install [DIR]",
		Short: "Write a hardened systemd unit that runs 'muelle serve DIR', and say how to enable it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load(args)
			if err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			if bin, err = filepath.EvalSymlinks(bin); err != nil {
				return err
			}
			home, _ := os.UserHomeDir()
			data := map[string]string{"Project": cfg.Project, "Binary": bin, "Dir": cfg.Dir,
				"Home": home, "StateDir": cfg.StateDir, "BackupDir": cfg.Backup.Dir}
			var unit bytes.Buffer
			if err := unitTemplate.Execute(&unit, data); err != nil {
				return err
			}
			name := "muelle-" + cfg.Project + ".service"
			if o.print {
				_, err := g.out.Write(unit.Bytes())
				return err
			}
			path := o.file
			if path == "" {
				path = filepath.Join("/etc/systemd/system", name)
			}
			for _, d := range []string{cfg.StateDir, cfg.Backup.Dir} {
				// ReadWritePaths must exist, or systemd refuses to start the unit.
				if err := os.MkdirAll(d, 0o700); err != nil {
					return err
				}
			}
			if err := atomicfile.Write(path, unit.Bytes(), 0o644); err != nil {
				return fmt.Errorf("write %s: %w (run as root, or use --print / --file)", path, err)
			}
			fmt.Fprintf(g.out, "wrote %s\nenable and start it with:\n  systemctl daemon-reload && systemctl enable --now %s\nfollow its log with:\n  journalctl -u %s -f\n", path, name, name)
			return nil
		},
	}
	o.flags(install)
	install.Flags().BoolVar(&o.print, "print", false, "print the unit instead of writing it")
	install.Flags().StringVar(&o.file, "file", "", "write the unit here (default /etc/systemd/system/muelle-PROJECT.service)")
	cmd.AddCommand(install)
	return cmd
}
