"""The views: results on disk, tables, the board, pictures, bundles and the commands."""
