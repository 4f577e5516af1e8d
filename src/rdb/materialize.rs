//! A visitor that builds an owned [`Value`].

use crate::error::{Error, Result};
use crate::rdb::encoding::Elem;
use crate::rdb::model::*;
use crate::rdb::value::{ArrayItem, ValueVisitor};

/// Builds a [`Value`] from visitor events.
#[derive(Debug, Default)]
pub struct Materializer {
    value: Option<Value>,
    stream: Option<Box<Stream>>,
    module_name: Option<String>,
}

impl Materializer {
    /// The value built.
    pub fn finish(mut self) -> Result<Value> {
        if let Some(s) = self.stream.take() {
            return Ok(Value::Stream(s));
        }
        let _ = self.module_name;
        self.value
            .ok_or_else(|| Error::usage("materializer received no value"))
    }
}

impl ValueVisitor for Materializer {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.value = Some(match ty {
            ValueType::String => Value::String(Vec::new()),
            ValueType::List => Value::List(Vec::new()),
            ValueType::Set => Value::Set(Vec::new()),
            ValueType::Zset => Value::Zset(Vec::new()),
            ValueType::Hash => Value::Hash(Vec::new()),
            ValueType::Stream => {
                self.stream = Some(Box::default());
                return Ok(());
            }
            ValueType::Module => return Ok(()),
            ValueType::Array => Value::Array {
                insert_idx: None,
                items: Vec::new(),
            },
        });
        Ok(())
    }

    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        self.value = Some(Value::String(v.to_vec()));
        Ok(())
    }

    fn list_item(&mut self, e: Elem<'_>) -> Result<()> {
        if let Some(Value::List(l)) = &mut self.value {
            l.push(e.to_vec());
        }
        Ok(())
    }

    fn set_member(&mut self, e: Elem<'_>) -> Result<()> {
        if let Some(Value::Set(l)) = &mut self.value {
            l.push(e.to_vec());
        }
        Ok(())
    }

    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> Result<()> {
        if let Some(Value::Zset(l)) = &mut self.value {
            l.push((m.to_vec(), score));
        }
        Ok(())
    }

    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, expire_ms: Option<u64>) -> Result<()> {
        if let Some(Value::Hash(l)) = &mut self.value {
            l.push(HashField {
                field: f.to_vec(),
                value: v.to_vec(),
                expire_ms,
            });
        }
        Ok(())
    }

    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[Elem<'_>],
        values: &[Elem<'_>],
    ) -> Result<()> {
        if let Some(s) = &mut self.stream {
            s.entries.push(StreamEntry {
                id,
                fields: fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            });
        }
        Ok(())
    }

    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        if let Some(s) = &mut self.stream {
            s.meta = meta.clone();
        }
        Ok(())
    }

    fn stream_group(&mut self, group: &ConsumerGroup) -> Result<()> {
        if let Some(s) = &mut self.stream {
            s.groups.push(group.clone());
        }
        Ok(())
    }

    fn stream_idmp(&mut self, idmp: &StreamIdmp) -> Result<()> {
        if let Some(s) = &mut self.stream {
            s.idmp = Some(idmp.clone());
        }
        Ok(())
    }

    fn module_value(&mut self, type_id: u64, body: &[u8]) -> Result<()> {
        self.value = Some(Value::Module(ModuleValue {
            name: module_name(type_id),
            type_id,
            encver: type_id & 1023,
            raw: body.to_vec(),
        }));
        Ok(())
    }

    fn array_meta(&mut self, _count: u64, idx: Option<u64>) -> Result<()> {
        if let Some(Value::Array { insert_idx, .. }) = &mut self.value {
            *insert_idx = idx;
        }
        Ok(())
    }

    fn array_item(&mut self, index: u64, item: ArrayItem<'_>) -> Result<()> {
        if let Some(Value::Array { items, .. }) = &mut self.value {
            items.push((
                index,
                match item {
                    ArrayItem::Bytes(b) => ArrayElem::Bytes(b.to_vec()),
                    ArrayItem::Int(i) => ArrayElem::Int(i),
                    ArrayItem::Float(f) => ArrayElem::Float(f),
                },
            ));
        }
        Ok(())
    }
}
