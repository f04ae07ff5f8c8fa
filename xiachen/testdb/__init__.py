"""The PostgreSQL backend of the tests (xiachen/settings_test.py): Django's, emptying the tables
between transactional tests with DELETE instead of TRUNCATE."""
