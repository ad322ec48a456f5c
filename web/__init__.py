"""The web role: Flask app factory, REST API, pages, Socket.IO."""
