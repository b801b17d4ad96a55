"""Running the course: notebook tooling, grading, feedback, the sandbox and make lab."""
