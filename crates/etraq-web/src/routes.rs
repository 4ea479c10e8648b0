//! A router builder that records what it serves, so tests can walk every route (the anonymous
//! are refused everywhere; the OpenAPI document matches the API) without a hand-kept list.

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// One served route: method and path (`{name}` marks a parameter).
pub type Route = (Method, &'static str);

/// A router under construction, with the routes it serves.
pub struct Routes {
    router: Router<Arc<AppState>>,
    list: Vec<Route>,
}

impl Routes {
    /// An empty router.
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Adds a GET route.
    pub fn get(self, path: &'static str, h: MethodRouter<Arc<AppState>>) -> Routes {
        self.add(&[Method::GET], path, h)
    }

    /// Adds a POST route.
    pub fn post(self, path: &'static str, h: MethodRouter<Arc<AppState>>) -> Routes {
        self.add(&[Method::POST], path, h)
    }

    /// Adds a route answering GET and POST.
    pub fn get_post(self, path: &'static str, h: MethodRouter<Arc<AppState>>) -> Routes {
        self.add(&[Method::GET, Method::POST], path, h)
    }

    fn add(
        mut self,
        methods: &[Method],
        path: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Routes {
        for m in methods {
            self.list.push((m.clone(), path));
        }
        self.router = self.router.route(path, h);
        self
    }

    /// The router and its routes.
    pub fn finish(self) -> (Router<Arc<AppState>>, Vec<Route>) {
        (self.router, self.list)
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}
