# A Patroni PostgreSQL 15 + PostGIS node, from Debian's packages (as `gridmap ha up` uses them).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        postgresql-15 postgresql-15-postgis-3 patroni python3-psycopg2 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data
COPY docker/ha/patroni.yml /etc/patroni/patroni.yml
COPY docker/ha/post-init.sh /usr/local/bin/gridmap-post-init
USER postgres
EXPOSE 5432 8008
HEALTHCHECK --interval=5s --timeout=3s --retries=5 \
    CMD python3 -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8008/health', timeout=2).status != 200)"
CMD ["patroni", "/etc/patroni/patroni.yml"]
