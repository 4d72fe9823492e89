//! An inventory with checked stock movements, written for the codellama-lite workbook.
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum StockError {
    UnknownItem(String),
    NotEnough { item: String, wanted: u32, available: u32 },
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockError::UnknownItem(name) => write!(f, "unknown item {name}"),
            StockError::NotEnough { item, wanted, available } => {
                write!(f, "cannot take {wanted} of {item}: only {available} left")
            }
        }
    }
}

#[derive(Default)]
pub struct Inventory {
    stock: HashMap<String, u32>,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn receive(&mut self, item: &str, quantity: u32) {
        *self.stock.entry(item.to_string()).or_insert(0) += quantity;
    }

    pub fn take(&mut self, item: &str, quantity: u32) -> Result<u32, StockError> {
        let available = self
            .stock
            .get_mut(item)
            .ok_or_else(|| StockError::UnknownItem(item.to_string()))?;
        if *available < quantity {
            return Err(StockError::NotEnough {
                item: item.to_string(),
                wanted: quantity,
                available: *available,
            });
        }
        *available -= quantity;
        Ok(*available)
    }

    pub fn total(&self) -> u64 {
        self.stock.values().map(|&q| u64::from(q)).sum()
    }
}

fn main() {
    let mut inventory = Inventory::new();
    inventory.receive("bolts", 120);
    inventory.receive("nuts", 80);
    for (item, quantity) in [("bolts", 30), ("nuts", 100), ("washers", 1)] {
        match inventory.take(item, quantity) {
            Ok(left) => println!("took {quantity} {item}, {left} left"),
            Err(error) => eprintln!("error: {error}"),
        }
    }
    println!("total stock: {}", inventory.total());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_too_much_fails() {
        let mut inventory = Inventory::new();
        inventory.receive("gears", 2);
        assert!(matches!(inventory.take("gears", 3), Err(StockError::NotEnough { .. })));
    }
}
