"""Small seeded experiments behind the course's plots; each returns data, `viz` draws it."""
