package cli

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/muelle-dev/muelle/internal/webhook"
	"github.com/spf13/cobra"
)

type webhooksOptions struct {
	stackOptions
	last     int
	decision string
	result   string
}

func newWebhooksCmd(g *globals) *cobra.Command {
	o := webhooksOptions{}
	cmd := &cobra.Command{
		Use:   "webhooks [DIR]",
		Short: "Show the webhook deliveries muelle serve received, and the deploys they started",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load(args)
			if err != nil {
				return err
			}
			entries, err := webhook.ReadActivity(filepath.Join(cfg.StateDir, "webhooks.jsonl"))
			if err != nil {
				return err
			}
			var shown []webhook.Entry
			for _, e := range entries {
				if (o.decision == "" || e.Decision == o.decision) && (o.result == "" || e.Result == o.result) {
					shown = append(shown, e)
				}
			}
			if o.last > 0 && len(shown) > o.last {
				shown = shown[len(shown)-o.last:]
			}
			if len(shown) == 0 {
				fmt.Fprintln(g.out, "no webhook deliveries recorded")
				return nil
			}
			tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME (UTC)\tFORGE\tEVENT\tDELIVERY\tSOURCE\tSTATUS\tDECISION\tREF\tCOMMIT\tSENDER\tRESULT\tREASON")
			for _, e := range shown {
				result := dash(e.Result)
				if e.Release != "" {
					result += " " + e.Release
				}
				reason := e.Reason
				if e.Error != "" {
					reason += " | " + e.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format("2006-01-02 15:04:05"), e.Forge, dash(e.Event),
					dash(e.Delivery), e.Source, e.Status, e.Decision, dash(e.Ref), dash(short(e.Commit)), dash(e.Sender), result, reason)
			}
			return tw.Flush()
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVarP(&o.last, "last", "n", 50, "show the last N")
	cmd.Flags().StringVar(&o.decision, "decision", "", "only deliveries with this decision: deploy, ignored, duplicate, rejected, invalid")
	cmd.Flags().StringVar(&o.result, "result", "", "only deliveries whose deploy ended so: live, failed, superseded, dropped")
	return cmd
}
