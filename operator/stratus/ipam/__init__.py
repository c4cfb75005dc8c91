"""Address management for Networks: a pure allocator and its persistence as Port objects."""
