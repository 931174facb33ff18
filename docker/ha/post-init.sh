#!/bin/sh
# Patroni's post_init: the new cluster's gridmap database (the nodes migrate it on start).
# $1 is a connection string to the new primary, as its superuser.
set -e
psql "$1" -v ON_ERROR_STOP=1 -c "CREATE DATABASE gridmap ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
