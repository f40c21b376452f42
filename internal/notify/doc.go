// Package notify tells people about deploys and rollbacks: a generic JSON
// webhook, Slack- and Discord-compatible webhooks, and email over SMTP.
// Delivery is best effort: a notification that cannot be delivered is
// logged and never fails what it reports on.
package notify
