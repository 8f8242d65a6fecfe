use eventfold::entity::Entities;
use eventfold::prelude::*;
use eventfold::repository::Repository;
use eventfold::snapshot::SnapshotPolicy;
use eventfold_suite::bank::{BankAccount, BankAccountCommand};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let entity = std::env::args().nth(1).as_deref() == Some("entity");
    rt.block_on(async {
        let repo = Repository::<BankAccount, _>::new(MemoryStore::new())
            .snapshot_policy(SnapshotPolicy::every(100));
        let entities = Entities::new(repo.clone());
        let start = std::time::Instant::now();
        let mut n = 0u64;
        for round in 0..5 {
            for a in 0..200 {
                let s = StreamId::new(format!("BankAccount-{round}-{a}")).unwrap();
                if entity {
                    entities
                        .execute(&s, BankAccountCommand::open("x".into(), 100))
                        .await
                        .unwrap();
                } else {
                    repo.execute(&s, BankAccountCommand::open("x".into(), 100))
                        .await
                        .unwrap();
                }
                n += 1;
                for _ in 0..100 {
                    if entity {
                        entities
                            .execute(&s, BankAccountCommand::deposit(10))
                            .await
                            .unwrap();
                    } else {
                        repo.execute(&s, BankAccountCommand::deposit(10))
                            .await
                            .unwrap();
                    }
                    n += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{n} commands in {secs:.3}s: {:.0}/s", n as f64 / secs);
    });
}
