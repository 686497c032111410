"""The portal's pages, one router per area: login and account, orders, documents, leads,
opportunities, and the customers' signing page."""
