"""The AI core of Refinery: pure functions over typed models. No HTTP, no database."""
