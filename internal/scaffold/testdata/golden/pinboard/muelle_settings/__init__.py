"""Settings muelle init wrote for pinboard: production.py for the deployed
stack, development.py for compose.yaml. Both import the project's own
settings (pinboard.settings) and override; the project's files are never
rewritten."""
