"""Example field mappings (YAML), shipped in the package as ``connector.example_mappings``."""
