#!/bin/sh
# Make the secret files kustomize's secretGenerator reads (deploy time, never committed:
# *.secret is in .gitignore). Existing files are kept, so re-running changes nothing;
# delete them first to rotate (then `kubectl apply -k` rolls every pod that mounts them).
set -eu
cd "$(dirname "$0")/base"
for file in common/admin-token.secret catalog/catalog-db-password.secret \
            orders/orders-db-password.secret monolith/monolith-db-password.secret; do
    if [ ! -s "$file" ]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$file")
        echo "made deploy/k8s/base/$file"
    fi
done
