#!/bin/sh
# Entry point of pinboard's web image, written by muelle init.
# Copies the static files collected at build time into the volume nginx
# serves, then runs the command (gunicorn by default). Files of older releases
# stay, so pages an old release rendered keep their stylesheets during a
# switch.
set -eu

if [ -d /srv/static-build ] && [ -w /srv/static ]; then
	# Containers of this image can start together (migrate, web, workers):
	# they copy one at a time, or their copies trip over each other.
	if command -v flock >/dev/null 2>&1; then
		flock /srv/static/.muelle-copy.lock cp -R /srv/static-build/. /srv/static/
	else
		cp -R /srv/static-build/. /srv/static/
	fi
fi

exec "$@"
