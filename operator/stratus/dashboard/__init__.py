"""The Stratus console: a web interface that acts as the signed-in person, never as itself.

Every request to Kubernetes carries the person's own bearer token, so RBAC and admission decide
what they see and do; the dashboard's own ServiceAccount reads nothing of tenants."""
