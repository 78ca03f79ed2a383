"""Purchase orders: ordering stock from suppliers, receiving it, and the moving-average cost."""
