# Stand-in for the TimescaleDB image of docker-compose.yml: Debian's PostgreSQL behind an
# entrypoint with the docker-library conventions the compose file relies on (POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, the data volume, pg_isready). It has no TimescaleDB: the compose
# tier runs with ATTUNE__TIMESCALE__REQUIRED=false.
ARG BASE
FROM ${BASE}
ARG POSTGRES_MAJOR
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-${POSTGRES_MAJOR} \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/${POSTGRES_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
