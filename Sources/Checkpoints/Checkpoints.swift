// Checkpoint readers.
