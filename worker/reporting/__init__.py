"""Reports and post-mortems: figures over finished saves, their HTML pages and charts."""
