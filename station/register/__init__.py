"""Register files: parsing and validation before anything is stored."""
