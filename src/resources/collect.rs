//! A creator that keeps what it is given instead of creating it: `triggerrun` prints the objects a
//! trigger would create, as they would be POSTed (`generateName` left for the API server).

use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{BoxFuture, Created, Creator, Error, Resource};

/// Collects prepared objects in memory.
#[derive(Debug, Default)]
pub struct CollectCreator {
    objects: Mutex<Vec<Map<String, Value>>>,
}

impl CollectCreator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every object collected so far, in order, leaving the collector empty.
    pub fn take(&self) -> Vec<Map<String, Value>> {
        self.objects
            .lock()
            .map(|mut objects| std::mem::take(&mut *objects))
            .unwrap_or_default()
    }
}

impl Creator for CollectCreator {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        let created = resource.created();
        let result = resource.to_json().map(|object| {
            if let Ok(mut objects) = self.objects.lock() {
                objects.push(object);
            }
            created
        });
        Box::pin(std::future::ready(result))
    }
}
