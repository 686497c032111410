#!/bin/sh
# One-shot: the namespace and partnerflow's search attributes (admin-tools image). Safe to
# run again: existing ones are kept.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 \
    || temporal operator namespace create --namespace "$ns" --retention 30d
for name in ProcessKind Stage AccountId PartnerId; do
    if temporal operator search-attribute list --namespace "$ns" | grep -qw "$name"; then
        echo "search attribute $name already registered"
    else
        temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword
    fi
done
