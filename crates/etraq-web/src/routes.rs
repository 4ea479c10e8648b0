//! A router builder that records what it serves and who may use it, so authorization is
//! declared once per group of routes, and tests can walk every route (the anonymous are refused
//! everywhere; the OpenAPI document matches the API) without a hand-kept list.

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::auth::Access;
use crate::state::AppState;

/// One served route: method and path (`{name}` marks a parameter).
pub type Route = (Method, &'static str);

/// A group of routes under construction, with who may use them and what they serve.
pub struct Routes {
    access: Access,
    router: Router<Arc<AppState>>,
    list: Vec<Route>,
}

/// A finished group: its router (not yet guarded), its access level and its routes.
pub struct Group {
    /// Who may use these routes.
    pub access: Access,
    /// The routes' router.
    pub router: Router<Arc<AppState>>,
    /// What it serves.
    pub routes: Vec<Route>,
}

impl Group {
    /// The router with the group's guard in front of every route (none for public routes).
    pub fn guarded(self, state: &Arc<AppState>) -> Router<Arc<AppState>> {
        match self.access {
            Access::Public => self.router,
            access => self
                .router
                .route_layer(axum::middleware::from_fn_with_state(
                    (access, state.clone()),
                    crate::auth::guard,
                )),
        }
    }
}

impl Routes {
    /// An empty group for `access`.
    pub fn new(access: Access) -> Routes {
        Routes {
            access,
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

    /// The finished group.
    pub fn finish(self) -> Group {
        Group {
            access: self.access,
            router: self.router,
            routes: self.list,
        }
    }
}
