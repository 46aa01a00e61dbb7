"""Sales channels: app, mini-program, web, social shops, POS, marketplaces."""
