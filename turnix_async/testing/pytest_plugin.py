"""pytest fixtures `turnix_server` and `turnix_client` (placeholder, being written)."""
