"""Pure functions: a Stratus object's model in, the manifests of its children out."""
