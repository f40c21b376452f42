#!/bin/sh
# Entry point of pinboard's web image, written by muelle init.
# Copies the static files collected at build time into the volume nginx
# serves, then runs the command (gunicorn by default). Files of older releases
# stay, so pages an old release rendered keep their stylesheets during a
# switch.
set -eu

if [ -d /srv/static-build ] && [ -w /srv/static ]; then
	cp -R /srv/static-build/. /srv/static/
fi

exec "$@"
