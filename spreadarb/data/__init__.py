"""Market data: the contract, writing, loading, validation and synthetic generation."""
