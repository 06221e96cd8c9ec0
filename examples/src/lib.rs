//! The seed's application scenarios (configuration, locks, election, membership, naming) as
//! runnable programs; they arrive with the client library. Today the same recipes are
//! exercised end to end through kazoo in `tests/test_recipes.py`.
