"""Small helpers shared by every part of dptensor (numpy-free, framework-free)."""
