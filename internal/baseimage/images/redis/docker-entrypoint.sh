#!/bin/sh
# Entry point of muelle's redis:7 stand-in, after the official image's.
set -eu

# An option or a config file as first argument means "run redis-server with it".
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	has_conf=no
	has_pm=no
	for arg in "$@"; do
		case "$arg" in
		*.conf) has_conf=yes ;;
		--protected-mode) has_pm=yes ;;
		esac
	done
	if [ "$has_conf" = no ] && [ "$has_pm" = no ]; then
		set -- "$@" --protected-mode no
	fi
fi

exec "$@"
