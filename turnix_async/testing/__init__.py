"""A local Turnix server for tests and offline demos (placeholder, being written)."""
